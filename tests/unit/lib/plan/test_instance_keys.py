"""The per-instance keys every node of one Harbor shares: generated once, checked
before they are placed (a token pair that does not match is refused)."""

from harbor_deploy.lib.plan import instance_keys


def test_generated_keys_are_what_harbor_reads_and_differ_each_time():
    first, second = instance_keys.generate(), instance_keys.generate()
    assert instance_keys.problems(first) == []
    assert len(first["secretkey"]) == 16 and first["secretkey"].isalnum()
    assert first["token_private_key.pem"].startswith(b"-----BEGIN RSA PRIVATE KEY-----")
    assert all(first[name] != second[name] for name in instance_keys.NODE_PATHS)
    assert instance_keys.on_node("/data/") == {
        "secretkey": "/data/secret/keys/secretkey",
        "token_private_key.pem": "/data/secret/core/private_key.pem",
        "token_root.crt": "/data/secret/registry/root.crt",
    }


def test_a_mismatched_pair_a_short_key_or_a_missing_file_is_named():
    first, second = instance_keys.generate(), instance_keys.generate()
    mixed = {**first, "token_root.crt": second["token_root.crt"], "secretkey": b"short"}
    assert instance_keys.problems(mixed) == [
        "secretkey must be exactly 16 printable ASCII characters, no line break "
        "(Harbor's prepare reads the file whole)",
        "token_root.crt is not a certificate over token_private_key.pem: the registry would refuse every token",
    ]
    assert instance_keys.problems({"secretkey": first["secretkey"]}) == [
        "token_private_key.pem is missing",
        "token_root.crt is missing",
    ]
    assert "does not load" in instance_keys.problems({**first, "token_root.crt": b"junk"})[0]


def test_a_secret_key_is_read_raw_so_a_line_break_or_a_wide_character_is_refused():
    # prepare reads the file whole and wants 16 characters; core takes its bytes as an
    # AES key (make/photon/prepare/utils/cert.py get_secret_key).
    keys = instance_keys.generate()
    for secretkey in (b"0123456789abcdef\n", b"0123456789abcdeF\r", b"0123456789abcde\xc3\xbc", b"0123456789 abcde"):
        found = instance_keys.problems({**keys, "secretkey": secretkey})
        assert found[0].startswith("secretkey must be exactly 16 printable ASCII characters"), secretkey
