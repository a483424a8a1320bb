"""duel's DCGAN family as torch.nn modules: the same layer lists as gan/models.cpp, for any image
size of the family (16, 32, 64, 128, 256, or 28), widths ngf/ndf, latent size nz, 1 or 3 channels,
transposed-convolution or nearest-neighbour upsampling, and the class-conditional variant, so a
duel checkpoint loads with load_state_dict(strict=True) and a torch model saves into duel.

    import torch_dcgan
    g, d = torch_dcgan.build(json.load(open("RUN/checkpoint/config.json")))

The critic ends in the PyTorch DCGAN example's Sigmoid when `sigmoid=True` (no state, so the
names and shapes are the same either way); duel's losses take the logits before it.
"""
import torch
import torch.nn as nn

FAMILY_SIZES = (16, 28, 32, 64, 128, 256)
PRESETS = {"dcgan28": (28, 64, 64), "dcgan64": (64, 64, 64)}  # image size, ngf, ndf


def geometry(cfg):
    """(image size, ngf, ndf) of a duel config (dict with the fields of config.json)."""
    name = cfg["model"]
    if name in PRESETS:
        return PRESETS[name]
    if name != "dcgan":
        raise ValueError(f"unknown model '{name}' (dcgan, dcgan28, dcgan64)")
    size, ngf, ndf = int(cfg["image_size"]), int(cfg["ngf"]), int(cfg["ndf"])
    if size not in FAMILY_SIZES:
        raise ValueError(f"image size {size} is not in the family {FAMILY_SIZES}")
    return size, ngf, ndf


def _up(cin, cout, how):
    if how == "convT":
        return [nn.ConvTranspose2d(cin, cout, 4, 2, 1, bias=False)]
    if how == "nearest":
        return [nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(cin, cout, 3, 1, 1, bias=False)]
    raise ValueError(f"unknown upsampling '{how}' (convT, nearest)")


def generator(nz, channels, size, ngf, upsample="convT"):
    if size == 28:
        first_kernel, widths = 7, [ngf * 4, ngf * 2]
    else:
        first_kernel = 4
        widths = [ngf << k for k in range(size.bit_length() - 4, -1, -1)]  # ngf*S/8 ... ngf
    layers = [nn.ConvTranspose2d(nz, widths[0], first_kernel, 1, 0, bias=False), nn.BatchNorm2d(widths[0]), nn.ReLU(True)]
    for cin, cout in zip(widths, widths[1:]):
        layers += _up(cin, cout, upsample) + [nn.BatchNorm2d(cout), nn.ReLU(True)]
    layers += _up(widths[-1], channels, upsample) + [nn.Tanh()]
    return nn.Sequential(*layers)


def _norm(kind, channels, side):
    return {"batchnorm": lambda: nn.BatchNorm2d(channels), "none": nn.Identity,
            "layernorm": lambda: nn.LayerNorm([channels, side, side])}[kind]()


def critic(channels, size, ndf, critic_norm="batchnorm", sigmoid=False):
    last = 7 if size == 28 else 4
    layers = [nn.Conv2d(channels, ndf, 4, 2, 1, bias=False), nn.LeakyReLU(0.2, inplace=True)]
    width, side = ndf, size // 4
    while side >= last:
        layers += [nn.Conv2d(width, width * 2, 4, 2, 1, bias=False), _norm(critic_norm, width * 2, side),
                   nn.LeakyReLU(0.2, inplace=True)]
        width, side = width * 2, side // 2
    layers.append(nn.Conv2d(width, 1, last, 1, 0, bias=False))
    if sigmoid:
        layers.append(nn.Sigmoid())
    return nn.Sequential(*layers)


class ConditionalGenerator(nn.Module):
    """duel's conditional G: an embedding of the label joined to z as extra latent channels."""

    def __init__(self, num_classes, net):
        super().__init__()
        self.embed = nn.Embedding(num_classes, num_classes)
        self.net = net

    def forward(self, z, labels):
        e = self.embed(labels).reshape(z.shape[0], -1, 1, 1)
        return self.net(torch.cat([z, e], 1))


def build(cfg, sigmoid=False):
    """(G, D) for a duel config.json dict."""
    size, ngf, ndf = geometry(cfg)
    channels, nz = int(cfg["channels"]), int(cfg["nz"])
    cond = int(cfg["num_classes"]) if cfg.get("conditional") else 0
    net = generator(nz + cond, channels, size, ngf, cfg.get("upsample", "convT"))
    g = ConditionalGenerator(cond, net) if cond else net
    d = critic(channels + cond, size, ndf, cfg.get("critic_norm", "batchnorm"), sigmoid)
    return g, d
