"""The client side of the relay: the asyncio websocket client (`RelayClient`), the rows it reads, and the `veo`
command's client commands (submit, batch, status, watch, ...) with their rendering. It speaks only the wire
protocol (`veo_protocol`): it never imports the server, the read models or the event store."""
