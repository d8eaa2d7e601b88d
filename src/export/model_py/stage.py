class Stage(nn.Module):
    """One stage of grownet's chain: layer, BatchNorm, + residual, activation, pooling.

    A linear layer reads its input flattened. `skip` is a residual connection: it adds the
    previous stage's input (the input of the block the two stages form) to the normalised
    pre-activation, before the activation."""

    def __init__(self, layer, norm=None, skip=None, act=None, pool=None):
        super().__init__()
        self.layer = layer
        self.norm = norm
        self.skip = skip
        self.act = act if act is not None else nn.Identity()
        self.pool = pool if pool is not None else nn.Identity()

    def forward(self, x, block_input=None):
        if isinstance(self.layer, nn.Linear):
            x = x.flatten(1)
        z = self.layer(x)
        if self.norm is not None:
            z = self.norm(z)
        if self.skip is not None:
            z = z + self.skip(block_input)
        return self.pool(self.act(z))
