#![doc = include_str!("cookie_attributes.md")]
