"""AI bots (智能机器人): JSON callbacks with streamed replies. This room is being built."""
