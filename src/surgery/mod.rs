//! Network surgery: the operations that change a network's shape, each with the optimiser
//! state kept in step, and the snapshots that undo them. Growth methods decide *what* to add;
//! this module is *how* a network is changed:
//!
//! * [`append_units`]: new output units of a stage (layer rows, BatchNorm channels, rational
//!   parameters) and the matching inputs of the next stage, optimiser state grown in place;
//! * [`insert_stages`]: new stages in the chain, later stages and their optimiser state
//!   renamed through [`crate::nn::ParamPath`];
//! * [`Snapshot`] (the stages a step touches) and [`NetSnapshot`] (the whole network), to
//!   roll a change back.
//!
//! ```
//! use grownet::nn::{Activation, Architecture, Network};
//! use grownet::optim::{Optimizer, OptimizerConfig};
//! use grownet::surgery::{append_units, NewUnits, Snapshot};
//! use rand::SeedableRng;
//! use tch::{Device, Kind, Tensor};
//! let arch = Architecture::mlp(3, &[2], 2, Activation::Relu);
//! let mut net = Network::new(&arch, &mut rand_chacha::ChaCha8Rng::seed_from_u64(0), Device::Cpu).unwrap();
//! let mut opt = Optimizer::new(OptimizerConfig::sgd(0.9));
//! let snap = Snapshot::of_site(&net, &opt, 0);
//! let units = NewUnits {
//!     fan_in: Tensor::ones([4, 3], (Kind::Float, Device::Cpu)),
//!     bias: Some(Tensor::zeros([4], (Kind::Float, Device::Cpu))),
//!     fan_out: Tensor::zeros([2, 4], (Kind::Float, Device::Cpu)),
//!     rational: None,
//!     running_var: None,
//!     norm_affine: None,
//! };
//! append_units(&mut net, &mut opt, 0, &units).unwrap();
//! assert_eq!(net.hidden_widths(), vec![6]);
//! snap.restore(&mut net, &mut opt);
//! assert_eq!(net.hidden_widths(), vec![2]);
//! ```
mod snapshot;
mod stages;
mod units;

pub use snapshot::{NetSnapshot, Snapshot};
pub use stages::insert_stages;
pub use units::{append_units, NewUnits, NormAffine};
