"""Live and recorded audio: streams, echo cancellation, voice activity, endpoints, earcons."""
