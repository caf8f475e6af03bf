"""Cryptographic adapters: KEK envelope encryption of secrets at rest (kek.py)."""

from lukhas_id.adapters.crypto.kek import Kek, ensure_kek_file, load_kek_file, new_kek_b64, parse_kek_b64

__all__ = ["Kek", "ensure_kek_file", "load_kek_file", "new_kek_b64", "parse_kek_b64"]
