"""Quality benchmark, reference recipes and the offline fit of the answerer's weights."""
