use super::*;

#[test]
fn prefix_rules() {
    assert!(validate_prefix("").is_ok());
    assert!(validate_prefix("/tenant-a_1").is_ok());
    assert!(validate_prefix("tenant").is_err());
    assert!(validate_prefix("/t/").is_err());
    assert!(validate_prefix("/t.x").is_err());
    assert!(validate_prefix(&format!("/{}", "a".repeat(117))).is_err());
    assert!(validate_prefix(&format!("/{}", "a".repeat(116))).is_ok());
}

#[test]
fn external_key_id_rules() {
    assert!(validate_external_key_id("abc-1.2_3").is_ok());
    assert!(validate_external_key_id(&"a".repeat(128)).is_ok());
    assert!(validate_external_key_id(&"a".repeat(129)).is_err());
    assert!(validate_external_key_id("").is_err());
    assert!(validate_external_key_id("a/b").is_err());
    assert!(validate_external_key_id("a%20").is_err());
}

#[test]
fn aad_input_has_lengths() {
    // No AAD but metadata, versus that metadata passed as AAD: different inputs.
    let md = metadata_bytes(7);
    assert_eq!(md, [1, 0, 0, 0, 7]);
    assert_ne!(aad_context(&[], &md), aad_context(&md, &[]));
}

#[test]
fn cdiv_is_sha256_of_the_concatenation() {
    let d = wire::cdiv_sha256(b"a", b"b", b"c", b"d", b"e");
    let whole = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, b"abcde");
    assert_eq!(d, whole.as_ref());
}

#[test]
fn error_messages_are_printable_ascii_under_512() {
    let m = error::clean_message(&format!("é\n{}", "x".repeat(600)));
    assert!(m.len() < 512);
    assert!(m.bytes().all(|b| (0x20..=0x7e).contains(&b)));
}
