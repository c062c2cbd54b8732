// The service layer: the one way in for every change and every read of records, whoever asks
// (the CLI, the API, the tools that use the API). Built once per gateway (or per CLI run).
import { ServiceContext } from "./context.js";
import type { ServiceDeps } from "./context.js";
import { DeviceService } from "./devices.js";
import { AccountService } from "./accounts.js";
import { ModelService } from "./model.js";
import { RecordingService } from "./recordings.js";
import { ReportService } from "./reports.js";
import { AlarmService } from "./alarms.js";
import { AuditService } from "./audit.js";
import { SessionService } from "./sessions.js";
import { EventService } from "./events.js";
import { ExportService } from "./exports.js";
import { SystemService } from "./system.js";

export type { Caller, ServiceDeps, LiveHooks } from "./context.js";
export type { GatewayFacts, GatewayState } from "./system.js";

export class Services {
  readonly ctx: ServiceContext;
  readonly devices: DeviceService;
  readonly accounts: AccountService;
  readonly model: ModelService;
  readonly recordings: RecordingService;
  readonly reports: ReportService;
  readonly alarms: AlarmService;
  readonly audit: AuditService;
  readonly sessions: SessionService;
  readonly events: EventService;
  readonly exports: ExportService;
  readonly system: SystemService;

  constructor(deps: ServiceDeps) {
    this.ctx = new ServiceContext(deps);
    this.devices = new DeviceService(this.ctx);
    this.accounts = new AccountService(this.ctx);
    this.model = new ModelService(this.ctx);
    this.recordings = new RecordingService(this.ctx);
    this.reports = new ReportService(this.ctx);
    this.alarms = new AlarmService(this.ctx);
    this.audit = new AuditService(this.ctx);
    this.sessions = new SessionService(this.ctx);
    this.events = new EventService(this.ctx);
    this.exports = new ExportService(this.ctx);
    this.system = new SystemService(this.ctx);
  }
}
