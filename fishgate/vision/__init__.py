"""Vision stages: motion and fish detection, species classification, tracking. Pure, no I/O."""
