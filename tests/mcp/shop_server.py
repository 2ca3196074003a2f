"""A small MCP server for the gateway tests, written with the Python `mcp` SDK
(MCPServer, stdio). It knows nothing of countersign: it is the upstream the gateway
fronts. Every tool it runs appends one line to the file named by SHOP_LOG, so a test
can tell which calls reached it. Over Streamable HTTP (`--http PORT`) the
`seen_headers` tool tells which request headers reached it.
"""

import json
import os
import sys

from mcp.server.mcpserver import Context, MCPServer

shop = MCPServer("shop-fixture")


def ran(tool: str, **arguments) -> None:
    path = os.environ.get("SHOP_LOG")
    if path:
        with open(path, "a", encoding="utf-8") as f:
            f.write(json.dumps({"tool": tool, "arguments": arguments}, sort_keys=True) + "\n")


@shop.tool()
def get_order(order_id: int) -> str:
    """Read one order."""
    ran("get_order", order_id=order_id)
    return f"order {order_id}: 2 items, 120 EUR, delivered"


@shop.tool()
def refund_order(order_id: int, amount: int, currency: str) -> str:
    """Refund an order."""
    ran("refund_order", order_id=order_id, amount=amount, currency=currency)
    return f"refunded {amount} {currency} on order {order_id}"


@shop.tool()
def pay_invoice(invoice_id: int) -> str:
    """Pay a supplier's invoice."""
    ran("pay_invoice", invoice_id=invoice_id)
    return f"paid invoice {invoice_id}"


@shop.tool()
def delete_everything() -> str:
    """Delete every order."""
    ran("delete_everything")
    return "deleted"


@shop.tool()
def crash(order_id: int) -> str:
    """Exits the server in the middle of the call."""
    ran("crash", order_id=order_id)
    os._exit(3)


@shop.tool()
def seen_headers(ctx: Context) -> str:
    """The HTTP request headers this call arrived with (Streamable HTTP only)."""
    request = ctx.request_context.request
    headers = dict(request.headers) if request is not None else {}
    ran("seen_headers")
    return json.dumps(headers, sort_keys=True)


if __name__ == "__main__":
    # shop_server.py            serve on stdio
    # shop_server.py --http N   serve Streamable HTTP on 127.0.0.1:N at /mcp
    if "--http" in sys.argv:
        shop.run("streamable-http", port=int(sys.argv[sys.argv.index("--http") + 1]))
    else:
        shop.run()
