#![doc = include_str!("security_model.md")]
