"""`python -m lukhas_id` is `lukhas-id`."""

from lukhas_id.cli import main

main()
