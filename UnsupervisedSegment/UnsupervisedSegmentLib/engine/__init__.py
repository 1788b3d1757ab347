"""Layer 1: the clustering engine on feature matrices and volumes in memory: fast GMM and k-means (the
estimator API of scikit-learn), features, masks, pre-processing, the MRF prior, model selection,
statistics, morphology. Imports only ``core``; scikit-learn only when asked for (``engine="sklearn"``)."""
