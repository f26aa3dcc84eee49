"""callsheet.ingress."""
