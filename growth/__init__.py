"""growth: grow neural networks in depth and width; how (operators), where (locators), when (triggers).

Entry points::

    growth.build_model("Basic3ResNet-1-1-1", num_classes=10)      # the model zoo
    growth.load_dataset("synthetic", val_fraction=0.01)            # offline and torchvision data
    growth.train(model, data, epochs=30, grower=growth.Grower(...)) # one loop, writes a History
    growth.train(..., optimizer="ra-sgd")                           # stage-wise LR adaptation (VT paper)
    growth.forward_macs(model)                                      # fvcore, 1 MAC = 1 FLOP
"""
from . import how, measure, optim, when, where
from .data import list_datasets
from .data import load as load_dataset
from .epoch import evaluate
from .history import History
from .how import grow_depth, grow_width
from .measure.cost import CostMeter, forward_macs, training_macs_per_sample
from .models import build_model, list_models
from .optim.rate_adaptation import LARS, RAAdam, RAAvaGrad, RASGD
from .protocol import FineTune, Grower, GrowthContext
from .train import Run, TrainConfig, resolve_device, seed_everything, train

__version__ = "0.1.0"

__all__ = [
    "CostMeter", "FineTune", "Grower", "GrowthContext", "History", "LARS", "RAAdam", "RAAvaGrad", "RASGD", "Run",
    "TrainConfig", "build_model", "evaluate", "forward_macs", "grow_depth", "grow_width", "how", "list_datasets",
    "list_models", "load_dataset", "measure", "optim", "resolve_device", "seed_everything", "train",
    "training_macs_per_sample", "when", "where",
]
