/** Sockets for tests. */
import net from "node:net";

/**
 * A loopback TCP port that is free now: for a peer (mosquitto, the agent's
 * DC-09 listener) that must be told its port before it binds it. Another
 * process could take it in between; tests that can, listen on port 0.
 */
export async function freePort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((resolve) => srv.listen(0, "127.0.0.1", resolve));
  const { port } = srv.address() as net.AddressInfo;
  await new Promise<void>((resolve) => srv.close(() => resolve()));
  return port;
}
