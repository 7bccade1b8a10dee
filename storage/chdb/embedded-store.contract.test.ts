import { afterAll } from 'vitest';
import { storeContract } from '../contract.ts';
import { openEmbeddedStore } from './embedded-store.ts';
import { tempDir } from '../../test/helpers/temp-dir.ts';

const dir = tempDir();
afterAll(() => dir.remove());

storeContract('embedded (chdb)', () => openEmbeddedStore({ dataDir: dir.path }));
