/**
 * Prints one plain closing line, `Tests: N passed, N failed, N skipped`, after vitest's own
 * report, so CI logs can be read without knowing vitest's format.
 */
interface TaskLike {
  type: string;
  mode?: string;
  result?: { state?: string };
  tasks?: TaskLike[];
}

export default class SummaryReporter {
  onFinished(files: TaskLike[] = []): void {
    let passed = 0;
    let failed = 0;
    let skipped = 0;
    const walk = (task: TaskLike) => {
      if (task.tasks) task.tasks.forEach(walk);
      if (task.type !== 'test') return;
      if (task.mode === 'skip' || task.mode === 'todo' || task.result?.state === 'skip') skipped++;
      else if (task.result?.state === 'pass') passed++;
      else failed++;
    };
    files.forEach(walk);
    console.log(`\nTests: ${passed} passed, ${failed} failed, ${skipped} skipped`);
  }
}
