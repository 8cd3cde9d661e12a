export { notify, outboxPath, readOutbox, WEBHOOK_ENV } from './outbox';
