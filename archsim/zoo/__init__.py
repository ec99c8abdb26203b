"""The models and their data: from a config to wrapped timm models and images.

    data.py         image sources (MNIST-5k, digits, image folders, synthetic) and subsets
    models.py       timm models, pretrained tags, local checkpoints, weights hashes
    wrapper.py      PixelModel: [0, 1] images in, the model's own resize and normalisation inside
    build.py        build_run: a config's models (trained or loaded from the cache) and images
    training.py     train_classifier (cross-entropy or distillation)
    kd_loss.py      the distillation loss (Hinton et al. 2015)
    students.py     distilled students, trained or loaded from the cache
    predictions.py  every model's class probabilities on the test and validation images
"""
