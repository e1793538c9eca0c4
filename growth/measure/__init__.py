"""What a run costs and what it shows: training and growth FLOPs (:mod:`growth.measure.cost`, fvcore's
count, 1 MAC = 1), a training step's memory (:mod:`growth.measure.memory`) and the per-stage gradient and
update norms of a parameter (:mod:`growth.measure.probe`, the VT paper's Fig. 4(b, c))."""
