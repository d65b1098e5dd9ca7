"""Training code of the bundled small CLIP, neuroclip-mini (run by scripts/train_neuroclip_mini.py); the library
only loads its weights (neuroclip.clip.backbone.load_bundled)."""
