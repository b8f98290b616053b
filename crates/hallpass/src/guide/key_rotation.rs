#![doc = include_str!("key_rotation.md")]
