/**
 * The one interface the agent drives every vend mechanism through: an MDB cashless adapter (the VMC asks, we approve),
 * a serial spiral board or GPIO relays (we dispense), or a simulator of each.
 *
 * The agent's loop is the same for all of them:
 *   openSession(budget) -> "selection" events -> agent decides locally (price <= remaining budget) ->
 *   vend(selection, price) resolves with the outcome and its evidence, or deny(selection) -> ... -> closeSession().
 * For MDB, a selection is the VMC's VEND REQUEST (it carries the VMC's price); for dispensers it comes from buttons or
 * from the kiosk page (`requestSelection`).
 */

export type VendOutcome =
  /** Product delivered: MDB VEND SUCCESS, or the drop-sensor beam was broken. Billable. */
  | { outcome: "delivered"; evidence: "vend-success" | "drop-sensor" | "home-cycle" }
  /** Nothing delivered and known so: MDB VEND FAILURE, motor did not turn, no drop seen. Not billed. */
  | { outcome: "not-delivered"; evidence: "vend-failure" | "none"; detail?: string }
  /** The spiral jammed. Not billed; the slot should be taken out of service. */
  | { outcome: "jammed"; evidence: "jam"; detail?: string }
  /** Outcome unknown: link lost, adapter reset, timeout. Never billed automatically; reconcile. */
  | { outcome: "unknown"; evidence: "link-lost" | "restart" | "none"; detail?: string };

export interface SelectionRequest {
  selection: string;
  /** The price the machine asked for (MDB VEND REQUEST), in minor units; absent for dispensers. */
  priceMinor?: number;
  /** MDB item number, when the selection came from a VMC. */
  mdbItem?: number;
  /**
   * Identifies this one request, for drivers where a machine can ask again for the same selection (MDB: a repeated
   * VEND REQUEST after a timeout). Pass it back to vend()/deny(), so a late decision cannot answer a newer request.
   */
  requestId?: number;
  /**
   * MDB selection first ("always idle"): the VMC asked with no session open; the request stays open up to the adapter's
   * vend timeout for the customer to pay for this one product. An agent without a session denies it.
   */
  sessionless?: boolean;
  /**
   * Epoch ms until which the machine holds this request open (selection first: the adapter's vend timeout, less a
   * margin). A decision after it is refused by the driver; `selectionWithdrawn` says when the request is gone.
   */
  answerBy?: number;
}

export interface MechanismEvents {
  /** The customer chose a product. The agent must answer with vend() or deny() (MDB: within the VMC's time). */
  selection: (request: SelectionRequest) => void;
  /**
   * A selection that was still waiting for vend() or deny() is gone: the machine gave up (its own timeout, the customer
   * pressed cancel, the reader was reset) or a newer request replaced it. Only drivers that hold requests open emit it.
   */
  selectionWithdrawn: (withdrawn: { selection: string; requestId?: number; reason: string }) => void;
  /** The customer ended the session at the machine (MDB SESSION COMPLETE without more vends, reader cancel). */
  sessionClosedByMachine: (reason: string) => void;
  /** Link state (serial adapter unplugged/replugged and set up again). */
  link: (state: "up" | "down", detail?: string) => void;
  /** A hardware fault; `outOfService` when the machine cannot vend any more. */
  fault: (fault: { code: string; message: string; outOfService: boolean }) => void;
}

export interface VendMechanism {
  readonly driver: "mdb" | "spiral-board" | "gpio" | "simulator";
  /** Opens the link and sets the device up; resolves when it can vend ("online only once the hardware is up"). */
  start(): Promise<void>;
  stop(): Promise<void>;
  isUp(): boolean;
  /**
   * Epoch ms of the last sign of life from the device (a line from the adapter, a POLL from the board), for the
   * systemd watchdog's "hardware link alive" check: an up link silent for too long is hung. Optional: drivers that
   * do not track it are judged by isUp() alone.
   */
  lastSignOfLifeAt?(): number | undefined;
  on<E extends keyof MechanismEvents>(event: E, listener: MechanismEvents[E]): this;
  off<E extends keyof MechanismEvents>(event: E, listener: MechanismEvents[E]): this;
  /**
   * Offers credit to the customer (MDB BEGIN SESSION with funds = budget; dispensers: enable selection). With
   * `heldRequestId`, the session is for that selection-first request (MDB always idle) if it is still open: no new
   * credit is offered, the next vend() approves it. If it is gone, credit is offered as usual.
   */
  openSession(budgetMinor: number, heldRequestId?: number): Promise<void>;
  /** Ends the session on the machine (MDB session end / reader cancel). Idempotent. */
  closeSession(): Promise<void>;
  /** For dispensers: a selection made elsewhere (kiosk page); emitted as a `selection` event. */
  requestSelection(selection: string): void;
  /**
   * Approves and performs the vend; resolves with the outcome. Never throws for a vend problem. `requestId` is the
   * SelectionRequest's, when it had one: a driver refuses (not-delivered) a decision for a request no longer pending.
   */
  vend(selection: string, priceMinor: number, requestId?: number): Promise<VendOutcome>;
  /** Refuses the pending selection (MDB VEND DENIED); with `requestId`, only if that request is still the pending one. */
  deny(selection: string, reason: string, requestId?: number): Promise<void>;
  /** Text for the machine's own display, if it has one (MDB DISPLAY). */
  showText?(text: string): Promise<void>;
}
