"""Feature extractors: the protocol (base), the networks (vgg16, lite0, pixels), their
registry and weights, and batched extraction (extract). TensorFlow only when one is built.
"""
