"""Stand-ins for other runtimes' Python APIs, over effvit.InferenceSession."""
