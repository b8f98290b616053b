#![doc = include_str!("periodic_rotation.md")]
