"""Parley as the hub for wearables: Wyoming satellites (glasses, hearing-aid
streamers, pendants) stream their microphone here and get the reply's audio back."""
