//! Record decoding (SR-39): the bytes a store hands back are untrusted too (a
//! tampered row, a half-written value, another version). Whatever they are, decoding
//! never panics, and whatever decodes re-encodes to bytes that decode to the same
//! record and encode identically again (the format is a fixed point after one trip).
#![no_main]

use hallpass::store::Record;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(record) = Record::decode(data) {
        let encoded = record.encode();
        let again = Record::decode(&encoded).expect("what encode wrote decodes");
        assert!(again == record, "a decoded record changed over one round trip");
        assert_eq!(again.encode(), encoded);
        let _ = record.data_size();
        let _ = record.expires_at();
    }
});
