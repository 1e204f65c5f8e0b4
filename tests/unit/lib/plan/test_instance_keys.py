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
        "secretkey must be 16 characters, as Harbor reads it",
        "token_root.crt is not a certificate over token_private_key.pem: the registry would refuse every token",
    ]
    assert instance_keys.problems({"secretkey": first["secretkey"]}) == [
        "token_private_key.pem is missing",
        "token_root.crt is missing",
    ]
    assert "does not load" in instance_keys.problems({**first, "token_root.crt": b"junk"})[0]
