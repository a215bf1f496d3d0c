/**
 * The embedded broker (aedes), used when no broker url is configured: the
 * demo, or a campus whose consumers connect to the gateway itself. It binds
 * loopback unless configured otherwise, and sets TCP_NODELAY on its sockets:
 * with Nagle on, a QoS 1 round trip through aedes took ~88 ms here against
 * ~0.15 ms through Mosquitto (PRODUCT.md), which alarms cannot afford.
 */
import net from "node:net";
import { Aedes, type AedesOptions } from "aedes";
import type { Logger } from "pino";

export interface EmbeddedBroker {
  /** The aedes instance, for extension hooks and inspection. */
  aedes: Aedes;
  host: string;
  port: number;
  url: string;
  close(): Promise<void>;
}

export async function startEmbeddedBroker(opts: {
  host: string;
  port: number;
  log: Logger;
  /** aedes extension points (authenticate, authorizePublish, …). */
  hooks?: AedesOptions;
}): Promise<EmbeddedBroker> {
  const aedes = await Aedes.createBroker(opts.hooks ?? {});
  aedes.on("clientError", (client, err) => opts.log.debug({ client: client.id, err: err.message }, "embedded broker: client error"));
  aedes.on("connectionError", (_client, err) => opts.log.debug({ err: err.message }, "embedded broker: connection error"));
  const sockets = new Set<net.Socket>();
  const server = net.createServer({ noDelay: true }, (socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    aedes.handle(socket);
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", (err: NodeJS.ErrnoException) => {
      const hint = err.code === "EADDRINUSE" ? ": another broker is already listening there (set broker.embedded.port, or broker.url)" : "";
      aedes.close();
      reject(new Error(`embedded broker cannot listen on ${opts.host}:${opts.port}${hint}`, { cause: err }));
    });
    server.listen(opts.port, opts.host, () => resolve());
  });
  const address = server.address() as net.AddressInfo;
  const hostForUrl = address.family === "IPv6" ? `[${address.address}]` : address.address;
  opts.log.info({ host: address.address, port: address.port }, "embedded MQTT broker listening");
  return {
    aedes,
    host: address.address,
    port: address.port,
    url: `mqtt://${hostForUrl}:${address.port}`,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => aedes.close(() => resolve()));
      }),
  };
}
