"""Model definitions: each defined once here; export/ and the Studio import them."""
from .adain import AdaINConfig, AdaINDecoder, AdaINNet
from .transformer import FastNetConfig, TransformerNet, macs_per_pixel
from .vgg import VGG16Features, load_vgg16

__all__ = [
    "AdaINConfig", "AdaINDecoder", "AdaINNet", "FastNetConfig", "TransformerNet",
    "VGG16Features", "load_vgg16", "macs_per_pixel",
]
