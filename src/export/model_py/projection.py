class Projection(nn.Module):
    """A residual connection that changes width or resolution: a strided 1×1 convolution
    (no bias) and BatchNorm."""

    def __init__(self, inputs, outputs, stride):
        super().__init__()
        self.conv = nn.Conv2d(inputs, outputs, 1, stride=stride, bias=False)
        self.norm = nn.BatchNorm2d(outputs)

    def forward(self, x):
        return self.norm(self.conv(x))
