"""The offline classifier, everything about it in one place: the network (``network``), its
deterministic training (``training``), the versioned file it is saved to and loaded from, once
per process (``files``), and its use as a torch-fidelity feature extractor (``fidelity_extractor``,
registered explicitly by ``register``)."""
