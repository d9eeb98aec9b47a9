"""The agent tool runtime (SPEC §4): the tool catalog, and later tool calls and MCP."""
