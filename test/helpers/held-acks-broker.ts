/**
 * A minimal MQTT 3.1.1 server that withholds PUBACKs on demand: a stand-in
 * for a slow or congested broker, which aedes cannot play (it stops reading
 * a client's socket until every packet of the batch it parsed is handled,
 * so a held PUBACK there also holds back every later packet). Real TCP,
 * real MQTT packets (mqtt-packet, the codec MQTT.js and aedes use).
 */
import net from "node:net";
import mqttPacket, { type Packet } from "mqtt-packet";

export interface Received {
  topic: string;
  payload: string;
  /** PUBACKs withheld at the moment this PUBLISH arrived. */
  heldAtArrival: number;
  /** Which connection (1, 2, …) it came on. */
  connection: number;
}

export interface HeldAcksBroker {
  url: string;
  received: Received[];
  /** PUBACKs withheld so far and not released. */
  readonly held: number;
  /** Send every withheld PUBACK and stop withholding. */
  releaseAll(): void;
  close(): Promise<void>;
}

/** Withholds the PUBACK of every QoS 1 PUBLISH whose topic `hold` accepts, until releaseAll(). */
export async function startHeldAcksBroker(hold: (topic: string) => boolean): Promise<HeldAcksBroker> {
  const received: Received[] = [];
  let withheld: (() => void)[] = [];
  let holding = true;
  let connections = 0;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    socket.on("error", () => {});
    const connection = ++connections;
    const parser = mqttPacket.parser({ protocolVersion: 4 });
    const send = (p: Packet) => {
      if (!socket.destroyed) socket.write(mqttPacket.generate(p));
    };
    parser.on("packet", (p: Packet) => {
      if (p.cmd === "connect") send({ cmd: "connack", returnCode: 0, sessionPresent: false });
      else if (p.cmd === "pingreq") send({ cmd: "pingresp" });
      else if (p.cmd === "disconnect") socket.end();
      else if (p.cmd === "publish") {
        received.push({ topic: p.topic, payload: p.payload.toString(), heldAtArrival: withheld.length, connection });
        if (p.qos !== 1 || p.messageId === undefined) return;
        const ack = () => send({ cmd: "puback", messageId: p.messageId });
        if (holding && hold(p.topic)) withheld.push(ack);
        else ack();
      }
    });
    socket.on("data", (chunk) => parser.parse(chunk));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as net.AddressInfo;
  return {
    url: `mqtt://127.0.0.1:${port}`,
    received,
    get held() {
      return withheld.length;
    },
    releaseAll() {
      holding = false;
      const acks = withheld;
      withheld = [];
      for (const ack of acks) ack();
    },
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
