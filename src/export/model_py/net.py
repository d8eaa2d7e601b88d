
    def forward(self, x):
        """Outputs (logits for classification) for normalised inputs x, (N, *INPUT_SHAPE)."""
        block_input = None  # the previous stage's input, what a residual connection adds
        for stage in self.stages:
            x, block_input = stage(x, block_input), x
        return x

    @classmethod
    def load(cls, path=None):
        """The network with the exported weights (model.safetensors beside this file by
        default), in eval mode: BatchNorm uses its running statistics, as grownet evaluates."""
        if path is None:
            path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "model.safetensors")
        net = cls()
        net.load_state_dict(read_safetensors(path))
        return net.eval()

    @staticmethod
    def normalise(raw):
        """Raw samples, shaped and scaled as grownet reads the dataset before normalising it
        (image files: N × C × H × W, pixel values divided by 255), normalised as grownet
        trained on them: (raw - MEAN) / STD."""
        if MEAN is None:
            raise ValueError("the checkpoint does not record its input normalisation")
        mean = torch.tensor(MEAN, device=raw.device).view(NORM_SHAPE)
        std = torch.tensor(STD, device=raw.device).view(NORM_SHAPE)
        return (raw.float() - mean) / std
