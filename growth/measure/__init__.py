"""What a run costs and what it shows: training and growth FLOPs (:mod:`growth.measure.cost`, fvcore's
count, 1 MAC = 1), a training step's memory (:mod:`growth.measure.memory`), the per-stage gradient and
update norms of a parameter (:mod:`growth.measure.probe`, the VT paper's Fig. 4(b, c)), and how alike two
layers' features are (:mod:`growth.measure.cka`), recorded as a network trains and grows
(:mod:`growth.measure.similarity`, MixtureGrowth's Figs. 4 and 5), and a translation's corpus BLEU
(:mod:`growth.measure.bleu`, the VT paper's Table 5)."""
