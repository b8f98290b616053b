#![doc = include_str!("step_up.md")]
