//! Any other terminal program: sessctl keeps its session alive and pins nothing.

use super::Profile;

pub struct Generic;

impl Profile for Generic {
    fn name(&self) -> &'static str {
        "generic"
    }

    fn programs(&self) -> &'static [&'static str] {
        &[]
    }
}
