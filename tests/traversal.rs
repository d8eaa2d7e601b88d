//! The one traversal of the chain (`Network::run`): every pass that goes through it with
//! inert hooks computes the plain forward pass, on an MLP, a VGG-style CNN and a ResNet; the
//! automatic mode's cached previews keep the residual connections of the stages before the
//! site.
use grownet::data::Dataset;
use grownet::growth::amplitude::forward_extended;
use grownet::growth::preview::{prefix, Previews};
use grownet::growth::proposal;
use grownet::nn::{
    Activation, Architecture, Hooks, LayerSpec, Network, Pool, Skip, Stage, StageSpec,
};
use rand::SeedableRng;
use tch::{Device, Kind, Tensor};

fn rng(seed: u64) -> rand_chacha::ChaCha8Rng {
    rand_chacha::ChaCha8Rng::seed_from_u64(seed)
}

fn net(arch: &Architecture) -> Network {
    let mut net = Network::new(arch, &mut rng(1), Device::Cpu).unwrap();
    // Running statistics away from (0, 1), so that BatchNorm in eval mode does something.
    for s in net.stages.iter_mut() {
        if let Some(bn) = s.norm.as_mut() {
            bn.running_mean = bn.running_mean.rand_like() * 0.3;
            bn.running_var = bn.running_var.rand_like() + 0.5;
        }
    }
    net
}

fn conv(inputs: i64, outputs: i64, bn: bool, pool: Pool, skip: Option<Skip>) -> StageSpec {
    StageSpec {
        layer: LayerSpec::Conv2d {
            inputs,
            outputs,
            kernel: 3,
            stride: 1,
            padding: 1,
            bias: !bn,
        },
        batch_norm: bn,
        activation: Activation::Relu,
        pool,
        skip,
    }
}

fn linear(inputs: i64, outputs: i64) -> StageSpec {
    StageSpec {
        activation: Activation::Relu,
        ..StageSpec::linear_head(inputs, outputs)
    }
}

/// A residual block feeding an MLP head: its first linear site is a "plain" one, where the
/// automatic mode's previews take their cached path.
fn resnet_with_mlp_head() -> Architecture {
    Architecture {
        input_shape: vec![3, 8, 8],
        stages: vec![
            conv(3, 4, true, Pool::None, None),
            conv(4, 2, true, Pool::None, None),
            conv(2, 4, false, Pool::GlobalAvg, Some(Skip::Identity)),
            linear(4, 5),
            linear(5, 6),
            StageSpec::linear_head(6, 3),
        ],
    }
}

/// Three architectures and an input batch for each.
fn cases() -> Vec<(&'static str, Architecture, Tensor)> {
    tch::manual_seed(3);
    let img = |n| Tensor::randn([n, 3, 8, 8], (Kind::Float, Device::Cpu));
    vec![
        (
            "mlp",
            Architecture::mlp(5, &[4, 3], 2, Activation::Tanh),
            Tensor::randn([6, 5], (Kind::Float, Device::Cpu)),
        ),
        (
            "vgg",
            Architecture::vgg([3, 8, 8], &[4, 4, 6], 2, 3, Activation::Relu, true),
            img(4),
        ),
        (
            "resnet18",
            Architecture::resnet18([3, 8, 8], 3, 1.0 / 16.0),
            img(3),
        ),
        ("resnet+mlp", resnet_with_mlp_head(), img(5)),
    ]
}

/// Hooks that do everything a hook can do, inertly: record every input, compute the layer
/// output themselves, pass the normalised pre-activation on.
#[derive(Default)]
struct Inert {
    inputs: Vec<usize>,
    outputs: Vec<usize>,
    normalised: Vec<usize>,
}

impl Hooks for Inert {
    fn input(&mut self, i: usize, _: &Stage, _: &Tensor) {
        self.inputs.push(i);
    }
    fn layer_output(&mut self, i: usize, stage: &Stage, input: &Tensor) -> Tensor {
        self.outputs.push(i);
        stage.layer.forward(input)
    }
    fn normalised(&mut self, i: usize, z: Tensor) -> Tensor {
        self.normalised.push(i);
        z
    }
}

#[test]
fn inert_hooks_give_the_plain_forward_pass() {
    for (name, arch, x) in cases() {
        let n = net(&arch);
        for train in [false, true] {
            let plain = tch::no_grad(|| n.forward(&x, train));
            let mut hooks = Inert::default();
            let (out, _) = tch::no_grad(|| n.run(&x, None, 0..n.stages.len(), train, &mut hooks));
            assert!(out.equal(&plain), "{name} train={train}");
            let all: Vec<usize> = (0..n.stages.len()).collect();
            assert_eq!(hooks.inputs, all, "{name}");
            assert_eq!(hooks.outputs, all, "{name}");
            assert_eq!(hooks.normalised, all, "{name}");
        }
        // A pass split in two (what previews do) is the same pass.
        let mid = n.stages.len() / 2 + 1;
        let (h, prev) = tch::no_grad(|| n.forward_range(&x, None, 0..mid, false));
        let (out, _) = tch::no_grad(|| n.forward_range(&h, prev, mid..n.stages.len(), false));
        assert!(
            out.equal(&tch::no_grad(|| n.forward(&x, false))),
            "{name} split"
        );
    }
}

/// New units with zero fan-out change nothing: the preview through the extended forward is
/// the plain forward pass at every site, whatever the scale.
#[test]
fn previews_of_silent_units_are_the_plain_forward_pass() {
    for (name, arch, x) in cases() {
        let n = net(&arch);
        let plain = tch::no_grad(|| n.forward(&x, false));
        let sites = (0..n.stages.len() - 1)
            .filter(|&k| grownet::growth::site::Site::new(&n, k, Default::default()).is_ok());
        let mut tried = 0;
        for k in sites {
            let p = proposal::random(&n, k, 2, 0.0, &mut rng(k as u64)).unwrap();
            for s in [0.0, 0.5, 1.0] {
                let out = tch::no_grad(|| forward_extended(&n, &x, &p, s));
                let diff = (&out - &plain).abs().max().double_value(&[]);
                assert!(diff == 0.0, "{name} site {k} s={s}: {diff}");
            }
            tried += 1;
        }
        assert!(tried > 0, "{name}: no site");
    }
}

/// The automatic mode's cached previews at a plain linear site behind a residual block: the
/// same outputs as the extended forward, which runs the whole chain (an earlier version ran
/// the stages before the site without their residual connections).
#[test]
fn judging_previews_keep_residual_connections() {
    let arch = resnet_with_mlp_head();
    let n = net(&arch);
    tch::manual_seed(4);
    let x = Tensor::randn([7, 3, 8, 8], (Kind::Float, Device::Cpu));
    let data = Dataset {
        x: x.shallow_clone(),
        y: Tensor::from_slice(&[0i64, 1, 2, 0, 1, 2, 0]),
    };
    let site = 3; // linear 4→5 feeding linear 5→6: no BatchNorm, pooling or rational units
    let p = proposal::random(&n, site, 4, 0.5, &mut rng(9)).unwrap();
    let previews = Previews::new(&n, &p, &data);
    let plain = tch::no_grad(|| n.forward(&x, false));
    assert!(previews.output(0, 0.0).equal(&plain));
    for (k, s) in [(4, 1.0), (4, 0.7), (3, 1.0), (2, 0.7), (1, 0.25)] {
        let cached = previews.output(k, s);
        let full = tch::no_grad(|| forward_extended(&n, &x, &prefix(&p, k), s));
        let diff = (&cached - &full).abs().max().double_value(&[]);
        let moved = (&full - &plain).abs().max().double_value(&[]);
        // Previews do not change one another (the cache is read, never written).
        assert!(previews.output(0, 0.0).equal(&plain), "k={k} s={s}");
        assert!(diff < 1e-5, "k={k} s={s}: {diff}");
        // (Some of the random units are dead on these non-negative pooled inputs; all four
        // together are not.)
        if k == 4 {
            assert!(
                moved > 1e-3,
                "k={k} s={s}: the new units changed nothing ({moved})"
            );
        }
    }
}
