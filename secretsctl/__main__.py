"""``python -m secretsctl``: the same entry point as the console script."""
from .launch import main

if __name__ == "__main__":
    main()
