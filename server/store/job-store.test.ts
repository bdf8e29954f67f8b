// The JobStore contract on the embedded SQLite store (an in-memory database per test).
import { openDatabase } from './database';
import { SqliteJobStore } from './job-store';
import { jobStoreContract } from './test-job-store';

jobStoreContract('SqliteJobStore', async () => new SqliteJobStore(openDatabase(':memory:')));
