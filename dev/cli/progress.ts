/**
 * Progress over rows on stderr: a bar redrawn in place on a terminal, a plain line per step
 * otherwise (logs, CI), so piped output stays readable.
 */
import type { Output } from './io.js';

const WIDTH = 30;

export class RowProgress {
  private drawn = false;

  constructor(
    private readonly out: Output,
    private readonly total: number,
    private readonly label = 'rows',
  ) {}

  update(done: number): void {
    const pct = this.total === 0 ? 100 : Math.min(100, Math.floor((done / this.total) * 100));
    const counts = `${done.toLocaleString('en-US')}/${this.total.toLocaleString('en-US')} ${this.label}`;
    if (this.out.isTTY) {
      const filled = Math.round((pct / 100) * WIDTH);
      this.out.write(
        `\r[${'█'.repeat(filled)}${'░'.repeat(WIDTH - filled)}] ${String(pct).padStart(3)}% ${counts}\u001b[K`,
      );
      this.drawn = true;
    } else {
      this.out.write(`import: ${counts} (${pct}%)\n`);
    }
  }

  /** Ends the bar's line (before anything else is printed). */
  done(): void {
    if (this.drawn) this.out.write('\n');
    this.drawn = false;
  }
}
