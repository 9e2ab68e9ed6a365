"""The concurrent branches of a journey, one module each: onboarding milestones, adoption
checks, maturity (tenure stages and recurring items), renewal checkpoints, and health with
the events that move it. Each runs in the workflow and asks the pure rules what to do."""
