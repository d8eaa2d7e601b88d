class Rational(nn.Module):
    """SENN's rational activation with parameters (l, c, v) per unit (theta, units × 3):
    σ(x) = [l·x + (c + 2v·x) / (1 + x²)] / ‖(l, c, v)‖, the identity at (1, 0, 0)."""

    def __init__(self, units):
        super().__init__()
        self.theta = nn.Parameter(torch.tensor([[1.0, 0.0, 0.0]]).repeat(units, 1))

    def forward(self, x):
        l, c, v = self.theta.unbind(1)
        norm = self.theta.square().sum(1).sqrt().clamp_min(1e-12)
        return (l * x + (c + 2 * v * x) / (x.square() + 1)) / norm
