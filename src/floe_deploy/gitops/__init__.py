"""GitOps: the Argo CD and Flux examples, their validation, and promotion between environments."""
