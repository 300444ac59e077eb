"""`veo mcp`: the relay as tools for AI assistants and agents (Model Context Protocol, over stdio).

A client of the relay like the CLI: it speaks only the websocket protocol, with the client token, and never
calls Flow itself. `veo_mcp.tools` holds the tools, `veo_mcp.link` the way to the relay and its errors,
`veo_mcp.follow` the progress of waited jobs, `veo_mcp.results` the result schemas, `veo_mcp.command` the command.
"""
