"""Analysis of an index: PCA, neighbours, clusters, the 2-D map, duplicates, and what is stored."""
